"""How NumPy gets its memory: without transparent huge pages."""
import os


def no_huge_pages() -> None:
    """Large NumPy arrays without transparent huge pages. NumPy asks the kernel for them with madvise;
    on the VMs trainlab runs on, first touching such memory is about 20× slower (2 s against 0.1 s for a
    fresh 188 MB array, Fashion-MNIST's training images as float32), and the data layer and the report's
    figures make many large arrays. NUMPY_MADVISE_HUGEPAGE=1 in the environment keeps NumPy's choice."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)
