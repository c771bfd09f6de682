"""One module per command: add_parser(subparsers) and the function it runs."""
