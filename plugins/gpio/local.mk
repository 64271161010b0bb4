# plugin gpio (not yet built)
