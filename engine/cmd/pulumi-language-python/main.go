// Command pulumi-language-python is this project's small Python language host for the Pulumi engine.
//
// The upstream host is a Go module that the Go module proxy does not serve, so the project ships its own: it runs a
// Python program through the upstream `pulumi-language-python-exec` launcher (shipped in the pinned
// github.com/pulumi/pulumi/sdk/v3 module and copied next to this binary by scripts/engine.sh), in the virtualenv named
// by Pulumi.yaml's `runtime.options.virtualenv`. It reports no required plugins: the engine loads the dynamic-provider
// plugin (`pulumi-resource-pulumi-python`) on demand, and nothing is downloaded behind the user's back.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time (-ldflags -X main.version=...) to the pinned Pulumi version.
var version = "3.0.0"

// exitedAfterUserMessage is the launcher's exit code for "an error was already shown to the user".
const exitedAfterUserMessage = 32

func main() {
	flag.String("root", "", "project root (accepted for compatibility; the RunRequest carries it)")
	flag.String("tracing", "", "tracing endpoint (accepted for compatibility; unused)")
	// The engine passes a plugin's runtime options as flags too; the RunPluginRequest carries them.
	flag.String("toolchain", "", "python toolchain (accepted for compatibility; only pip is supported)")
	flag.String("virtualenv", "", "virtualenv (accepted for compatibility; the request's options carry it)")
	flag.String("typechecker", "", "type checker (accepted for compatibility; unused)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-python ENGINE_ADDRESS")
		os.Exit(1)
	}
	engineAddress := flag.Arg(0)

	ctx, cancel := context.WithCancel(context.Background())
	// Exit with the engine: a killed CLI must not leave this host behind.
	go func() { _ = rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel) }()

	host := &pythonHost{engineAddress: engineAddress}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Cancel: cancelChannel(ctx),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

func cancelChannel(ctx context.Context) chan bool {
	ch := make(chan bool)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func (h *pythonHost) Handshake(
	_ context.Context, _ *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *pythonHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *pythonHost) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python := pythonFor(req.GetInfo())
	out, err := exec.Command(python, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", python, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: python,
		Version:    strings.TrimSpace(strings.TrimPrefix(string(out), "Python ")),
	}, nil
}

// Run runs the program to completion; the engine reads its resource registrations through the monitor.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	launcher, err := launcherPath()
	if err != nil {
		return nil, err
	}
	// A stack without config has none: the SDK reads PULUMI_CONFIG as an object, never null.
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeyList := req.GetConfigSecretKeys()
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}
	program := req.GetProgram()
	if program == "" {
		program = "."
	}
	args := []string{
		"-u", launcher,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
	}
	if info := req.GetInfo(); info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root_directory", info.GetRootDirectory())
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	python := pythonFor(req.GetInfo())
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = append(virtualenvEnv(python),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
	)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitedAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run %s): %v",
			python, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a Python plugin (a directory with PulumiPlugin.yaml, `runtime: python`, and a `__main__.py`) as the
// upstream host does for such a directory: `python <plugin directory> <args>` in the plugin's virtualenv (the
// `virtualenv` option, `venv` when unset: plugins never run in the ambient Python), in the engine's working directory
// and environment, its output streamed back to the engine, which reads the plugin's port from its stdout.
// (Upstream also runs a buildable package without `__main__.py` through `pulumi.run.plugin`; this host does not.)
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	info := req.GetInfo()
	if info == nil {
		return errors.New("RunPlugin: the request names no plugin program")
	}
	dir := info.GetProgramDirectory()
	if _, err := os.Stat(filepath.Join(dir, "__main__.py")); err != nil {
		return fmt.Errorf("plugin %s is not runnable: it has no __main__.py", dir)
	}
	venv := virtualenvDir(info)
	if venv == "" {
		venv = filepath.Join(info.GetRootDirectory(), "venv")
	}
	python := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(python); err != nil {
		return fmt.Errorf("plugin %s: its virtualenv %s has no bin/python; create it (python3 -m venv %s) and install "+
			"the plugin's package into it, or set runtime.options.virtualenv in PulumiPlugin.yaml", dir, venv, venv)
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	cmd := exec.CommandContext(server.Context(), python, append([]string{dir}, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(virtualenvEnv(python), req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())}, //nolint:gosec
			})
		}
		return fmt.Errorf("problem executing plugin program (could not run %s): %w", python, err)
	}
	return closer.Close()
}

// InstallDependencies creates the project's virtualenv (if missing) and installs requirements.txt into it,
// streaming pip's output back to the CLI. Used by `pulumi install`.
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	info := req.GetInfo()
	venv := virtualenvDir(info)
	if venv == "" {
		return errors.New("Pulumi.yaml has no runtime.options.virtualenv; install requirements.txt yourself")
	}
	out := &streamWriter{stream: stream}
	if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil {
		if err := runStreaming(out, hostPython(), "-m", "venv", venv); err != nil {
			return err
		}
	}
	requirements := filepath.Join(info.GetRootDirectory(), "requirements.txt")
	return runStreaming(out, filepath.Join(venv, "bin", "python"), "-m", "pip", "install", "-r", requirements)
}

type streamWriter struct {
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if err := w.stream.Send(&pulumirpc.InstallDependenciesResponse{Stdout: append([]byte(nil), p...)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func runStreaming(out io.Writer, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	scanner := bufio.NewScanner(pipe)
	for scanner.Scan() {
		if _, err := out.Write(append(scanner.Bytes(), '\n')); err != nil {
			return err
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// launcherPath finds pulumi-language-python-exec next to this binary.
func launcherPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	self, err = filepath.EvalSymlinks(self)
	if err != nil {
		return "", err
	}
	launcher := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(launcher); err != nil {
		return "", fmt.Errorf("pulumi-language-python-exec is missing next to %s; rebuild with scripts/engine.sh", self)
	}
	return launcher, nil
}

// virtualenvDir is the absolute virtualenv directory named in Pulumi.yaml, or "" when none is set.
func virtualenvDir(info *pulumirpc.ProgramInfo) string {
	if info == nil || info.GetOptions() == nil {
		return ""
	}
	venv, ok := info.GetOptions().AsMap()["virtualenv"].(string)
	if !ok || venv == "" {
		return ""
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(info.GetRootDirectory(), venv)
	}
	return venv
}

func pythonFor(info *pulumirpc.ProgramInfo) string {
	if venv := virtualenvDir(info); venv != "" {
		return filepath.Join(venv, "bin", "python")
	}
	return hostPython()
}

func hostPython() string {
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd
	}
	return "python3"
}

// virtualenvEnv is this process's environment, activated for the virtualenv that holds python (if any).
func virtualenvEnv(python string) []string {
	env := os.Environ()
	binDir := filepath.Dir(python)
	if _, err := os.Stat(filepath.Join(binDir, "activate")); err != nil {
		return env
	}
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "PYTHONHOME="), strings.HasPrefix(kv, "VIRTUAL_ENV="):
		case strings.HasPrefix(kv, "PATH="):
			out = append(out, "PATH="+binDir+string(os.PathListSeparator)+strings.TrimPrefix(kv, "PATH="))
		default:
			out = append(out, kv)
		}
	}
	return append(out, "VIRTUAL_ENV="+filepath.Dir(binDir))
}
