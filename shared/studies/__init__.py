"""The studies built on the harness: the GPU-vs-CPU scaling study, data parallel on each library's
own engine (harness side and host side), and the implementations side by side."""
