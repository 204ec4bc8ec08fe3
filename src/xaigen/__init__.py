"""xaigen: explainable-AI-guided approximate DNN generation for multi-pod systolic arrays.

Data flows one way through the packages::

    multipliers -> emulation -> xai / hardware -> search / nas -> report
"""

__version__ = "0.1.0"
