"""Files: atomic writes, safe readers of untrusted archives and pickles, the run checkpoint
format and the model file format. Nothing here knows what a learner is."""
