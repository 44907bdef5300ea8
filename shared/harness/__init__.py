"""Running a library fairly: the one registry of libraries and engines, a worker process per library,
process clean-up, timing, peak memory and the machine's description."""
