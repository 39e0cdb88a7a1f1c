"""The service's client commands (`reprogram jobs | sweeps | models | datasets | catalog |
webhooks | credentials | usage | workers`).

Human output goes to stdout as aligned tables and key/value blocks; `--json` prints one JSON
document on stdout and nothing else. Progress and diagnostics go to stderr. Errors print one
`error: ...` line and exit with a code that says what happened (`exits`). Like the SDK, these
modules never import torch.

`parsers` registers the commands; `jobs`, `watch`, `sweeps`, `models`, `datasets`, `catalog`,
`webhooks`, `credentials`, `usage` and `workers` run them; `running` gives each a Client and
turns errors into exit codes; `output` and `formatting` print.
"""
