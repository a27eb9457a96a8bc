"""``otmark quickstart`` and ``otmark study``: the paper's experiments on the generated benchmark.

Modules (one job each): ``benchmark`` (generate the default data once), ``cells`` (experiment
config of one setting), ``training`` (a time-budgeted training run on given samples),
``scoring`` (a trained model or the mean shape on named protocols), ``plots`` (CED curves,
landmark overlays), ``quickstart`` (the 15-minute demo); the study's ablation grid in
``config`` (study YAML, cells, where each cell's JSON lives), ``runner`` (train and evaluate the
cells not done, resumable) and ``report`` (mean +- std table and CED plots).
"""
