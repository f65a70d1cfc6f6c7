"""Evaluation: models scored on data by the one protocol of `lesiongan.metrics`.

`evaluate` scores a model on a data folder, `fpre` is the pretrained segmentor that judges
healthiness, `benchmark` reproduces the papers' tables on the phantom (training every row with
`lesiongan.train`), `paper_numbers` and `benchmark_report` hold the papers' numbers and the
report beside them, and `demo` runs the shipped model on a phantom case. Unlike the metrics
themselves (plain functions of arrays), these run models: they sit above `infer` and `train`.
"""
