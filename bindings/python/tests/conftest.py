import pytest

from hangar import Repository


@pytest.fixture
def repo(tmp_path):
    r = Repository(path=tmp_path / "repo", exists=False)
    r.init(user_name="Test User", user_email="test@example.com")
    return r


@pytest.fixture
def writer(repo):
    co = repo.checkout(write=True)
    yield co
    try:
        co.close()
    except PermissionError:
        pass
