# plugin nvme (not yet built)
