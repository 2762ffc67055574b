"""Driving a running ComfyUI over HTTP: upload inputs, queue a workflow, follow it, fetch the results."""
