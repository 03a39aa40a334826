"""bench/planted: a synthetic subject with planted neurons whose ground truth is known (see __main__)."""
