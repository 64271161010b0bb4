# plugin testdev (not yet built)
