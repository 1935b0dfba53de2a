// Runs one operation on the stack with the Automation API, the program above inline (its in-process language server:
// the Node language host binary is not needed), and prints what happened as one JSON line.
//   node drive.js preview|up|refresh|destroy STACK       (in the project directory, next to Pulumi.yaml)
import * as auto from "@pulumi/pulumi/automation";

type Step = [phase: "start" | "done", op: string, name: string];

async function main(operation: string, stackName: string): Promise<void> {
    const stack = await auto.LocalWorkspace.selectStack(
        { stackName, projectName: "ts-e2e", program: async () => require("./index") },
        { workDir: process.cwd() },
    );
    const steps: Step[] = [];
    const onEvent = (event: auto.EngineEvent) => {
        const pre = event.resourcePreEvent?.metadata;
        const done = event.resOutputsEvent?.metadata;
        if (pre) steps.push(["start", pre.op, pre.urn.split("::").pop()!]);
        if (done) steps.push(["done", done.op, done.urn.split("::").pop()!]);
    };
    const onOutput = (text: string) => process.stderr.write(text);
    let changes: Record<string, number> | undefined;
    let outputs: auto.OutputMap | undefined;
    if (operation === "preview") {
        changes = (await stack.preview({ onEvent, onOutput, diff: true })).changeSummary;
    } else if (operation === "up") {
        const result = await stack.up({ onEvent, onOutput });
        changes = result.summary.resourceChanges;
        outputs = result.outputs;
    } else if (operation === "refresh") {
        changes = (await stack.refresh({ onEvent, onOutput })).summary.resourceChanges;
    } else if (operation === "destroy") {
        changes = (await stack.destroy({ onEvent, onOutput })).summary.resourceChanges;
    } else {
        throw new Error(`unknown operation ${operation}: preview, up, refresh or destroy`);
    }
    const values = Object.fromEntries(Object.entries(outputs ?? {}).map(([k, v]) => [k, v.value]));
    console.log(JSON.stringify({ changes, outputs: values, steps }));
}

main(process.argv[2], process.argv[3]).catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
