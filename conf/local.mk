# example configurations
