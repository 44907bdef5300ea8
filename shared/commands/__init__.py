"""The command line: cli.py dispatches `compare.py [SUB-COMMAND]` to one module per sub-command;
args.py validates input (one line, exit 2) and driver.py is the one flow of the long commands."""
