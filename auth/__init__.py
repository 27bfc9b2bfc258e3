"""Who a caller is, what level they get, and the keys a node signs with."""
