"""Consumption and PV forecasting: data, baselines, a Keras LSTM, evaluation, advice.

Importing this package (or ``advice``, ``cli``, ``data``, ``baselines``,
``metrics``) never imports TensorFlow; only ``model``, ``training`` and the
code paths that train or predict do.
"""
