"""CDK stacks: each composes one construct per capability and holds no resource details."""
