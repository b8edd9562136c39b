import pytest
import torch

from mbdl_teach import exercises


def ref_square(x):
    return x**2


def make_case(gen):
    return (torch.randn(3, 4, generator=gen),)


def test_pass_fail_and_not_yet(capsys):
    assert exercises.check(lambda x: x * x, ref_square, make_case, name="sq")
    assert "PASS sq" in capsys.readouterr().out

    bad = exercises.check(lambda x: x**2 + 1e-3 * (x > 2), ref_square, make_case, n_cases=50, name="sq")
    out = capsys.readouterr().out
    assert not bad and "FAIL sq" in out and "worst absolute error" in out and "index" in out

    def todo(x):
        raise NotImplementedError

    res = exercises.check(todo, ref_square, make_case)
    assert not res and "NOT YET" in capsys.readouterr().out


def test_shape_and_exception_messages(capsys):
    res = exercises.check(lambda x: (x**2).sum(0), ref_square, make_case, name="sq")
    assert not res and "expected shape (3, 4), got shape (4,)" in res.message
    res = exercises.check(lambda x: x @ x, ref_square, make_case, name="sq")
    assert not res and "raised RuntimeError" in res.message and "Tensor of shape (3, 4)" in res.message
    res = exercises.check(lambda x: x.numpy().tolist(), ref_square, make_case, name="sq")
    assert not res and "expected Tensor" in res.message
    with pytest.raises(TypeError, match="function"):
        exercises.check(3, ref_square, make_case)


def test_learner_cannot_corrupt_the_reference_inputs():
    def in_place(x):
        x.mul_(x)
        return x

    assert exercises.check(in_place, ref_square, make_case, verbose=False)


def test_chapter_00_checkers_accept_the_reference_and_reject_a_wrong_answer():
    assert exercises.check_tikhonov_fourier(exercises.reference_tikhonov_fourier)
    wrong = lambda y, otf, lam: torch.fft.ifft2(torch.fft.fft2(y) / (otf + lam)).real  # noqa: E731
    assert not exercises.check_tikhonov_fourier(wrong)
    assert exercises.check_hqs_x_step(exercises.reference_hqs_x_step)
    no_beta_v = lambda y, v, op, beta: op.solve_normal(op.adjoint(y), beta)  # noqa: E731
    assert not exercises.check_hqs_x_step(no_beta_v)


@pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # NumPy on a tensor
def test_chapter_01_checkers_reject_a_wrong_type_and_say_what_was_expected(capsys):
    import numpy as np

    def soft_torch(x, t):
        return torch.sign(x) * torch.clamp(x.abs() - t, min=0)

    def soft_numpy(x, t):  # right values, wrong type: NumPy converts the tensor silently
        return np.sign(x) * np.maximum(np.abs(x) - t, 0)

    def soft_float32(x, t):
        return soft_torch(x, t).float()

    assert exercises.check_soft_threshold(exercises.reference_soft_threshold)
    assert exercises.check_soft_threshold(soft_torch)
    assert "PASS soft_torch" in capsys.readouterr().out
    res = exercises.check_soft_threshold(soft_numpy)
    assert not res and "expected a function differentiable in x" in res.message
    assert "not NumPy" in res.message and res.message in capsys.readouterr().out
    res = exercises.check_soft_threshold(lambda x, t: soft_numpy(x.numpy(), t))
    assert not res and "expected a torch.Tensor" in res.message and "ndarray" in res.message
    detached = lambda x, t: soft_torch(x.detach(), t)  # noqa: E731
    res = exercises.check_soft_threshold(detached)
    assert not res and "differentiable" in res.message
    res = exercises.check_soft_threshold(soft_float32)
    assert not res and "torch.float64" in res.message and "torch.float32" in res.message
    no_sign = lambda x, t: torch.clamp(x.abs() - t, min=0)  # noqa: E731
    res = exercises.check_soft_threshold(no_sign)
    assert not res and "values differ" in res.message

    def mad_float(d):
        return float(d.abs().median()) / 0.6745

    def mad_tensor(d):  # right value, wrong type: a 0-d tensor where a float is asked
        return d.abs().median() / 0.6745

    assert exercises.check_mad_sigma(exercises.reference_mad_sigma)
    assert exercises.check_mad_sigma(mad_float)
    assert exercises.check_mad_sigma(lambda d: np.median(np.abs(d.numpy())) / 0.6745)
    res = exercises.check_mad_sigma(mad_tensor)
    assert not res and "expected a float" in res.message and "Tensor of shape ()" in res.message
    no_constant = lambda d: float(d.abs().median())  # noqa: E731
    res = exercises.check_mad_sigma(no_constant)
    assert not res and "values differ" in res.message

    def todo(d):
        raise NotImplementedError

    assert "NOT YET" in exercises.check_mad_sigma(todo).message


def test_chapter_05_checker():
    assert exercises.check_hqs_fourier_x_step(exercises.reference_hqs_fourier_x_step)
    no_z = lambda y, z, otf, b: torch.fft.ifft2(otf.conj() * torch.fft.fft2(y) / (otf.abs() ** 2 + b)).real  # noqa: E731
    assert not exercises.check_hqs_fourier_x_step(no_z)


def _loop_adjoint(y, weight, s):
    """The adjoint written as the exercise asks: each tap scattered back."""
    B, C, h, w = y.shape
    k = weight.shape[-1]
    x = y.new_zeros(B, 1, (h - 1) * s + k, (w - 1) * s + k)
    for a in range(k):
        for b in range(k):
            x[:, 0, a:a + (h - 1) * s + 1:s, b:b + (w - 1) * s + 1:s] += (
                y * weight[:, 0, a, b].view(1, -1, 1, 1)).sum(1)
    return x


def test_strided_adjoint_checker_wants_the_taps_not_conv_transpose2d():
    import torch.nn.functional as F

    from mbdl_teach import exercises

    assert exercises.check_strided_adjoint(_loop_adjoint)

    def given_away(y, weight, s):
        return F.conv_transpose2d(y, weight, stride=s)

    def given_away_by_name(y, weight, s):
        return torch.conv_transpose2d(y, weight, stride=s)

    for fn in (given_away, given_away_by_name):
        res = exercises.check_strided_adjoint(fn)
        assert not res and "without conv_transpose2d" in str(res.message)
    assert F.conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 1, 1)).shape == (1, 1, 2, 2)

    def no_stride(y, weight, s):  # a wrong answer: the taps scattered as if s were 1
        return _loop_adjoint(y, weight, 1)[..., :(y.shape[2] - 1) * s + weight.shape[-1],
                                           :(y.shape[3] - 1) * s + weight.shape[-1]]

    assert not exercises.check_strided_adjoint(no_stride)
