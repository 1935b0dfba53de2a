"""Inputs: the declarations of every resource's inputs, the schema that checks and diffs them, and the rules for
values. Imports nothing of the package beyond itself."""
