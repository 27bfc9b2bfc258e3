"""GraphQL types and resolvers: the public contract of a node and of the coordinator."""
