"""Temporal Smooth: optical-flow-guided smoothing of the generated frames (this pack's addition, not DisCo's)."""
