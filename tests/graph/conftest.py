def pytest_configure(config):
    config.addinivalue_line("markers", "slow: big-network graph checks (seconds each); run in CI")
