"""Pose Sequence with a streamed VIDEO and its sound: frame counts, fps and the AUDIO output cut to the generated
frames (start_frame, max_frames, target_fps), on clips made here with PyAV (a tone whose loudness rises over time,
so where the cut starts can be measured)."""
import io

import numpy as np
import pytest
import torch

from tests.media import loudness, rms_at, tone, write_clip

DEFAULTS = dict(detector="builtin", fps=24.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False)
SECONDS, FPS = 2.0, 30.0


@pytest.fixture(scope="module")
def node(pack):
    return pack.NODE_CLASS_MAPPINGS["DisCoPoseSequence"]()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clips") / "song.mp4", SECONDS, FPS, size=(96, 160))


@pytest.fixture(autouse=True)
def no_detector(monkeypatch, pack):
    """Poses are not what these tests check: a stand-in detector (a fixed figure) keeps them fast and lets them
    run without mediapipe. It still receives every decoded frame, at the working size."""
    import importlib

    detect = importlib.import_module(pack.__name__.replace(".nodes", "") + ".disco_core.pose.detect")
    seen = []

    def fake_backend(backend, models_dir):
        def one(frame):
            seen.append(frame.shape)
            kp = np.zeros((18, 3), np.float32)
            h, w = frame.shape[:2]
            kp[:, 0], kp[:, 1], kp[:, 2] = np.linspace(0.2, 0.8, 18) * w, np.linspace(0.1, 0.9, 18) * h, 1.0
            return kp
        return one, None
    monkeypatch.setattr(detect, "_backend", fake_backend)
    return seen


class FakeVideo:
    """What ComfyUI's VideoFromFile offers: get_stream_source() -> a path or a BytesIO."""

    def __init__(self, source):
        self.source = source

    def get_stream_source(self):
        return self.source


def expected_rms(t):  # the tone's RMS at source time t (s), as made by tests.media
    return loudness(t + 0.025, SECONDS) / np.sqrt(2)


def assert_cut_starts_at(audio, start_s):
    """The sound's loudness at 0.1 s and 0.5 s into the cut is the source's at start_s + that, within one frame
    (AAC's own 21 ms priming included)."""
    wave = audio["waveform"][0].numpy()
    one_frame = 0.8 / SECONDS / np.sqrt(2) / FPS  # loudness change over one frame
    for t in (0.1, 0.5):
        assert abs(rms_at(wave, audio["sample_rate"], t) - expected_rms(start_s + t)) < one_frame + 0.004


@pytest.mark.parametrize("as_bytes", [False, True], ids=["path", "bytesio"])
def test_video_gives_every_frame_and_its_whole_song(node, clip, as_bytes, no_detector):
    source = io.BytesIO(clip.read_bytes()) if as_bytes else str(clip)
    poses, preview, fps, audio = node.build(**DEFAULTS, video=FakeVideo(source))
    assert len(poses) == 60 and fps == FPS  # the video's own rate wins over the fps widget (24)
    assert poses.frames.size == (96, 160) and len(no_detector) == 60
    assert audio["sample_rate"] == 48000 and audio["waveform"].shape[:2] == (1, 2)
    assert audio["waveform"].shape[2] == round(60 / FPS * 48000)  # frames / fps, to the sample
    assert_cut_starts_at(audio, 0.0)
    assert preview.shape == (60, 160, 96, 3)


def test_start_and_max_frames_cut_the_sound_with_the_frames(node, clip):
    """Mutation seen failing: cutting the sound from 0 instead of start_frame / fps."""
    poses, _, fps, audio = node.build(**{**DEFAULTS, "max_frames": 20}, video=FakeVideo(str(clip)), start_frame=15)
    assert len(poses) == 20 and fps == FPS
    assert audio["waveform"].shape[2] == round(20 / FPS * 48000)
    assert_cut_starts_at(audio, 15 / FPS)


def test_target_fps_keeps_real_time_for_frames_and_sound(node, clip):
    poses, _, fps, audio = node.build(**{**DEFAULTS, "target_fps": 12.0}, video=FakeVideo(str(clip)), start_frame=6)
    assert fps == 12.0 and len(poses) == round(54 * 12 / FPS)  # 54 source frames left after start_frame
    assert abs(audio["waveform"].shape[2] / 48000 - len(poses) / 12.0) < 1 / 48000
    assert_cut_starts_at(audio, 6 / FPS)


def test_video_frames_are_detected_at_a_bounded_working_size(node, tmp_path, no_detector):
    big = write_clip(tmp_path / "big.mp4", 0.2, 10, size=(720, 1280), sound=False)
    poses, preview, _, audio = node.build(**DEFAULTS, video=FakeVideo(str(big)))
    assert no_detector == [(640, 360, 3)] * 2  # detection sees 360x640, poses stay on the 720x1280 canvas
    assert poses.frames.size == (720, 1280) and np.nanmax(poses.keypoints.keypoints[..., 1]) > 640
    assert preview.shape == (2, 512, 288, 3)
    assert float(audio["waveform"].abs().max()) == 0.0 and audio["waveform"].shape[2] == round(0.2 * 48000)


def test_image_frames_pass_their_audio_input_through_cut_like_the_frames(node):
    """IMAGE path with an AUDIO input: the very samples of the span, no codec involved. Mutation seen failing:
    ignoring start_frame for the passed-through sound."""
    frames = torch.rand(30, 64, 48, 3)
    wave = torch.from_numpy(tone(3.0, 16000, channels=1))[None]
    _, _, fps, audio = node.build(**{**DEFAULTS, "fps": 10.0, "max_frames": 12}, frames=frames,
                                  audio={"waveform": wave, "sample_rate": 16000}, start_frame=5)
    assert fps == 10.0
    torch.testing.assert_close(audio["waveform"], wave[..., 8000:8000 + 19200])


def test_no_sound_source_gives_silence_of_the_right_length(node, sequence_json=None):
    frames = torch.rand(9, 32, 32, 3)
    poses, _, fps, audio = node.build(**{**DEFAULTS, "fps": 8.0}, frames=frames)
    assert len(poses) == 9 and audio["waveform"].shape[2] == round(9 / 8.0 * audio["sample_rate"])
    assert float(audio["waveform"].abs().max()) == 0.0


def test_start_frame_past_the_end_says_what_to_do(node, clip, core):
    with pytest.raises(core.InputError, match="start_frame 500 is past the end"):
        node.build(**DEFAULTS, video=FakeVideo(str(clip)), start_frame=500)
    with pytest.raises(core.InputError, match="start_frame 40 is past the end"):
        node.build(**DEFAULTS, frames=torch.rand(9, 32, 32, 3), start_frame=40)
