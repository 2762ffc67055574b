"""DisCo's temporal model (`disco_w_tm`) and long videos as overlapping windows; see model.py and windows.py."""
