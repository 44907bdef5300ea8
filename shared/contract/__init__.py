"""The contract and its data: the functions every implementation defines, tasks, CSV input, initial
weights and sample order, the optimum a linear model can reach, tolerances and the one parity judge."""
