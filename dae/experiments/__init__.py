"""The published experiments, one module each: ``HELP``, ``Config`` (a typed dataclass of its
options, :mod:`dae.experiments.configs`) and ``run(config, report=None, resume=False) -> Result``."""
