"""The published experiments, one module each: ``HELP``, ``add_flags(parser)``, ``run(args)``."""
