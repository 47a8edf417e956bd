"""The nemesis: faults as data (kill, pause, a cut or slow link), each with the heal that undoes it."""
