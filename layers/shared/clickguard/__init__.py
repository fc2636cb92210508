"""clickguard: real-time behaviour-anomaly detection with a Markov transition model.

The package is shared by every Lambda (shipped as the layer in ``layers/``) and by the local tools.
"""

__version__ = "0.1.0"
