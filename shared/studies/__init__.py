"""The studies built on the harness: the GPU-vs-CPU scaling study, every task in one run, data
parallel on each library's own engine (harness side and host side), the implementations side by side."""
