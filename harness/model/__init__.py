"""What a run is made of, as plain data: the events sent, the history of every send (invoke, then
ok / fail / info), and what the pipeline's sink holds at the end. No I/O; everything depends on it."""
