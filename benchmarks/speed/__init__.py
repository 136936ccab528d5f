"""The speed suite: one ``bench_*`` module per stage and :mod:`.run_all`, which runs them all."""
