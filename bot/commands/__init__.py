"""One module per `irobot` sub-command, each with `add_arguments` and `run`."""
