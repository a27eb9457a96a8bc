"""Command-line interface: one module per subcommand, wired in :mod:`otmark.cli.main`."""
