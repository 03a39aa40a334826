"""The `refinery` command line: one module per subcommand."""
