"""One folder per library, the same modules in each: lesson.py (the network and its training, in
the library's idiom: shared/contract/interface.py's LESSON), runtime.py (what only the harness
needs: RUNTIME and the module constants), parallel.py where the library has a data-parallel
engine (PARALLEL_CONTRACT); and book.py, the seed's own program."""
