"""`vatio demo`'s choice of MQTT broker and Redis (issue 13, item 12): which one, and why, in words."""

from __future__ import annotations

import pytest

from backend.broker import broker_answers
from backend.demo import choose_broker, choose_redis, redis_answers
from backend.processes import free_port
from backend.settings import SettingsError

DEFAULT_MQTT = "mqtt://127.0.0.1:1883"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def answering(*urls: str):
    return lambda url: url in urls


def test_a_broker_already_on_the_default_port_is_used_and_named_as_not_the_demos():
    choice = choose_broker(None, DEFAULT_MQTT, from_env=False, answers=answering(DEFAULT_MQTT))
    assert choice.url == DEFAULT_MQTT
    assert "the default mqtt://127.0.0.1:1883" in choice.reason and "not the demo's own" in choice.reason
    assert "--broker own" in choice.reason


def test_no_broker_answering_starts_the_demos_own():
    choice = choose_broker(None, DEFAULT_MQTT, from_env=False, answers=answering())
    assert choice.url is None and "nothing answers at the default" in choice.reason
    from_env = choose_broker(None, "mqtt://10.0.0.7:1884", from_env=True, answers=answering())
    assert from_env.url is None and "$VATIO_MQTT_URL=mqtt://10.0.0.7:1884" in from_env.reason


def test_broker_option_wins_over_an_answering_default():
    other = "mqtt://127.0.0.1:2883"
    choice = choose_broker(other, DEFAULT_MQTT, from_env=False, answers=answering(DEFAULT_MQTT, other))
    assert choice.url == other and choice.reason == f"--broker {other}"
    own = choose_broker("own", DEFAULT_MQTT, from_env=False, answers=answering(DEFAULT_MQTT))
    assert own.url is None and "--broker own" in own.reason


def test_a_broker_option_that_does_not_answer_or_is_no_url_is_refused():
    with pytest.raises(SettingsError, match="no MQTT broker answers"):
        choose_broker("mqtt://127.0.0.1:2883", DEFAULT_MQTT, from_env=False, answers=answering(DEFAULT_MQTT))
    with pytest.raises(SettingsError, match="--broker"):
        choose_broker("http://127.0.0.1:1883", DEFAULT_MQTT, from_env=False, answers=answering())


def test_redis_choice():
    assert choose_redis(None, DEFAULT_REDIS, False, answering(DEFAULT_REDIS)).url == DEFAULT_REDIS
    missing = choose_redis(None, DEFAULT_REDIS, True, answering())
    assert missing.url is None and "$VATIO_REDIS_URL=" in missing.reason and "without live pushes" in missing.reason
    other = "redis://127.0.0.1:6380/1"
    assert choose_redis(other, DEFAULT_REDIS, False, answering(DEFAULT_REDIS, other)).url == other
    assert choose_redis("none", DEFAULT_REDIS, False, answering(DEFAULT_REDIS)).url is None
    with pytest.raises(SettingsError, match="no Redis answers"):
        choose_redis(other, DEFAULT_REDIS, False, answering(DEFAULT_REDIS))
    with pytest.raises(SettingsError, match="--redis-url"):
        choose_redis("mqtt://127.0.0.1:6379", DEFAULT_REDIS, False, answering())


def test_the_real_probes_see_the_local_services_and_not_a_free_port():
    """The test machine runs Mosquitto on 1883 and Redis on 6379 (make setup); a free port answers nothing."""
    port = free_port()
    assert choose_broker(None, DEFAULT_MQTT, False, broker_answers).url == DEFAULT_MQTT
    assert choose_broker(None, f"mqtt://127.0.0.1:{port}", False, broker_answers).url is None
    assert choose_redis(None, DEFAULT_REDIS, False, redis_answers).url == DEFAULT_REDIS
    assert choose_redis(None, f"redis://127.0.0.1:{port}/0", False, redis_answers).url is None
