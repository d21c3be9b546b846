collect_ignore = ["node_modules"]
