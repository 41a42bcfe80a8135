"""PyTorch's file format (what ``torch.save`` writes) read and written without torch: tensors are numpy arrays.

A file is a zip archive under one folder (``archive/``): ``data.pkl``, a pickle of the saved object in which every
tensor is a call of ``torch._utils._rebuild_tensor_v2`` on a storage named by a persistent id, and each storage's
raw bytes as ``data/<key>`` (little-endian, stored uncompressed), with the records ``version``, ``byteorder``,
``.format_version`` and ``.storage_alignment`` that torch writes beside them.

``loads`` is a restricted unpickler, like ``torch.load(weights_only=True)``: it runs only the opcodes that build
numbers, strings, lists, tuples and dicts, and knows only the globals that a dict of those and tensors needs
(the tensor rebuild, the storage types, ``collections.OrderedDict``); any other global is refused with an
``UnpicklingError`` naming the GLOBAL, before anything is called. Tensors come back as numpy arrays (C-contiguous
copies; bfloat16 as float32). ``dumps`` writes numpy arrays as tensors, so torch reads the file back with
``weights_only=True``.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

ARCHIVE = "archive"  # the folder name torch.save uses for a file object
VERSION_RECORD = b"3\n"  # torch's `version` record for the zip format since 1.6
ALIGNMENT = 64  # torch aligns each entry's data to 64 bytes (its `.storage_alignment`)
PROTOCOL = 2  # what torch.save pickles with


class UnsupportedTensor(pickle.UnpicklingError):
    """A tensor that is not a plain dense array (sparse, quantized, complex, a subclass)."""


class TooLarge(pickle.UnpicklingError):
    """The tensors would take more memory than the caller allows."""


@dataclass(frozen=True)
class _StorageType:
    """What ``torch.FloatStorage`` and its kin stand for: the element type of a storage."""

    name: str
    dtype: str  # numpy dtype, little-endian; "bfloat16" is read as float32


STORAGE_TYPES = {storage.name: storage for storage in (
    _StorageType("FloatStorage", "<f4"), _StorageType("DoubleStorage", "<f8"),
    _StorageType("HalfStorage", "<f2"), _StorageType("BFloat16Storage", "bfloat16"),
    _StorageType("LongStorage", "<i8"), _StorageType("IntStorage", "<i4"), _StorageType("ShortStorage", "<i2"),
    _StorageType("CharStorage", "i1"), _StorageType("ByteStorage", "u1"), _StorageType("BoolStorage", "?"),
)}
STORAGE_FOR_DTYPE = {np.dtype(storage.dtype): storage for storage in STORAGE_TYPES.values()
                     if storage.dtype != "bfloat16"}
# Tensor kinds torch.save can write that are not plain dense arrays: refused as such, not as unknown objects.
UNSUPPORTED = {("torch._utils", name) for name in (
    "_rebuild_sparse_tensor", "_rebuild_sparse_csr_tensor", "_rebuild_qtensor", "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy", "_rebuild_nested_tensor",
    "_rebuild_tensor_v3", "_rebuild_xla_tensor", "_rebuild_mtia_tensor")} | {("torch", name) for name in (
    "ComplexFloatStorage", "ComplexDoubleStorage", "QInt8Storage", "QUInt8Storage", "QInt32Storage",
    "QUInt4x2Storage", "QUInt2x4Storage")}


# --- reading ---------------------------------------------------------------------------------------------------

def loads(data: bytes, *, max_bytes: int | None = None) -> Any:
    """The object a torch zip archive holds, its tensors as numpy arrays. Raises ``pickle.UnpicklingError``
    (``UnsupportedTensor``, ``TooLarge``, or a refused GLOBAL), ``zipfile.BadZipFile``, ``KeyError`` for a missing
    entry, and what a damaged pickle raises (EOFError, ValueError...). ``max_bytes``: the most that the tensors
    may take in memory, together."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise pickle.UnpicklingError("not a torch archive: it has no single <folder>/data.pkl")
        prefix = pickles[0][: -len("/data.pkl")]
        byteorder = _record(archive, f"{prefix}/byteorder") or b"little"
        if byteorder not in (b"little", b"big"):
            raise pickle.UnpicklingError(f"unknown byte order {byteorder[:16]!r}")
        pickled = io.BytesIO(archive.read(pickles[0]))
        return _Unpickler(pickled, archive, prefix, byteorder.decode(), max_bytes).load()


def _record(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return archive.read(name).strip()
    except KeyError:
        return None


@dataclass
class _Storage:
    array: np.ndarray  # one dimension, the storage's elements


def _hooks(*args: Any) -> dict:
    """``collections.OrderedDict`` as the pickle calls it (empty, for a tensor's backward hooks): a plain dict."""
    if args:
        raise pickle.UnpicklingError("OrderedDict is only built empty and then filled")
    return {}


# The opcodes of plain data (and of names, calls, persistent ids and BUILD, checked in _Unpickler); no INST, OBJ,
# NEWOBJ or EXT: nothing that builds an object of a class.
PLAIN_OPCODES = (
    pickle.PROTO, pickle.FRAME, pickle.STOP, pickle.MARK, pickle.POP, pickle.POP_MARK, pickle.DUP, pickle.NONE,
    pickle.NEWTRUE, pickle.NEWFALSE, pickle.INT, pickle.BININT, pickle.BININT1, pickle.BININT2, pickle.LONG,
    pickle.LONG1, pickle.LONG4, pickle.FLOAT, pickle.BINFLOAT, pickle.STRING, pickle.BINSTRING,
    pickle.SHORT_BINSTRING, pickle.UNICODE, pickle.BINUNICODE, pickle.SHORT_BINUNICODE, pickle.BINUNICODE8,
    pickle.EMPTY_TUPLE, pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3, pickle.EMPTY_LIST, pickle.LIST,
    pickle.EMPTY_DICT, pickle.GET, pickle.BINGET, pickle.LONG_BINGET, pickle.PUT, pickle.BINPUT, pickle.LONG_BINPUT,
    pickle.MEMOIZE, pickle.GLOBAL, pickle.STACK_GLOBAL, pickle.BINPERSID,
)


class _Unpickler(pickle._Unpickler):
    """Only the opcodes of plain data, calls only of the tensor rebuild and OrderedDict, storages from the zip."""

    def __init__(self, pickled: BinaryIO, archive: zipfile.ZipFile, prefix: str, byteorder: str,
                 max_bytes: int | None) -> None:
        super().__init__(pickled)
        self.archive, self.prefix, self.byteorder = archive, prefix, byteorder
        self.budget = max_bytes
        self.storages: dict[str, tuple[_StorageType, _Storage]] = {}
        self.callables: dict[tuple[str, str], Callable[..., Any]] = {
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): self.rebuild_parameter,
            ("collections", "OrderedDict"): _hooks,
        }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in UNSUPPORTED:
            raise UnsupportedTensor(f"{module}.{name} is not a plain dense tensor")
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        if (module, name) in self.callables:
            return self.callables[(module, name)]
        raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unknown persistent id")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or not _is_count(numel):
            raise pickle.UnpicklingError("malformed storage reference")
        if key in self.storages:
            known_kind, storage = self.storages[key]
            if known_kind != kind or len(storage.array) != numel:
                raise pickle.UnpicklingError(f"storage {key} is referenced with two types or sizes")
            return storage
        info = self.archive.getinfo(f"{self.prefix}/data/{key}")
        dtype = np.dtype("<u2" if kind.dtype == "bfloat16" else kind.dtype)
        if info.file_size != numel * dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key} holds {info.file_size} bytes, not {numel} elements")
        self._spend(info.file_size * (2 if kind.dtype == "bfloat16" else 1))
        array = np.frombuffer(self.archive.read(info), dtype.newbyteorder("<" if self.byteorder == "little" else ">"))
        if kind.dtype == "bfloat16":  # the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        storage = _Storage(array.astype(array.dtype.newbyteorder("="), copy=False))
        self.storages[key] = (kind, storage)
        return storage

    def rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       _backward_hooks: Any = None, _metadata: Any = None) -> np.ndarray:
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError("a tensor without a storage")
        if not (_is_count(offset) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) and all(map(_is_count, size + stride))
                and isinstance(requires_grad, bool)):
            raise pickle.UnpicklingError("malformed tensor shape")
        array = storage.array
        shape = tuple(size)
        count = int(np.prod(shape, dtype=object))
        if count == 0:
            return np.empty(shape, array.dtype)
        last = offset + sum((extent - 1) * step for extent, step in zip(shape, stride, strict=True))
        if last >= len(array):
            raise pickle.UnpicklingError("a tensor reaches past the end of its storage")
        self._spend(count * array.itemsize)
        view = np.lib.stride_tricks.as_strided(array[offset:], shape, [step * array.itemsize for step in stride],
                                               writeable=False)
        return np.array(view, order="C")

    def rebuild_parameter(self, data: Any, requires_grad: Any, _backward_hooks: Any) -> np.ndarray:
        if not isinstance(data, np.ndarray):
            raise pickle.UnpicklingError("a parameter without a tensor")
        return data

    def _spend(self, nbytes: int) -> None:
        if self.budget is not None:
            self.budget -= nbytes
            if self.budget < 0:
                raise TooLarge("the tensors would take more memory than allowed")

    # Opcodes: what plain data needs, checked where the stock ones trust the stack.

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not (isinstance(args, tuple) and any(func is known for known in self.callables.values())):
            raise pickle.UnpicklingError("a call of something other than a tensor rebuild")
        self.stack[-1] = func(*args)

    def load_append(self) -> None:
        value = self.stack.pop()
        _expect(self.stack[-1], list).append(value)

    def load_appends(self) -> None:
        items = self.pop_mark()
        _expect(self.stack[-1], list).extend(items)

    def load_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        _expect(self.stack[-1], dict)[_hashable(key)] = value

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = _expect(self.stack[-1], dict)
        for index in range(0, len(items) - 1, 2):
            target[_hashable(items[index])] = items[index + 1]

    def load_dict(self) -> None:
        items = self.pop_mark()
        self.append({_hashable(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)})

    def load_build(self) -> None:
        # Only a module's state_dict() has state: its OrderedDict's `_metadata` (per-module versions), dropped here.
        state = self.stack.pop()
        if not (type(self.stack[-1]) is dict and isinstance(state, dict) and set(state) <= {"_metadata"}):
            raise pickle.UnpicklingError("the state of an object other than a state dict")

    def refuse(self) -> None:
        raise pickle.UnpicklingError("an opcode that builds objects other than plain data")

    dispatch = dict.fromkeys(range(256), refuse)
    dispatch.update({code[0]: pickle._Unpickler.dispatch[code[0]] for code in PLAIN_OPCODES})
    dispatch.update({pickle.REDUCE[0]: load_reduce, pickle.APPEND[0]: load_append,
                     pickle.APPENDS[0]: load_appends, pickle.SETITEM[0]: load_setitem,
                     pickle.SETITEMS[0]: load_setitems, pickle.DICT[0]: load_dict, pickle.BUILD[0]: load_build})


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _expect(target: Any, kind: type) -> Any:
    if type(target) is not kind:
        raise pickle.UnpicklingError(f"an item added to a {type(target).__name__}, not a {kind.__name__}")
    return target


def _hashable(key: Any) -> Any:
    if not isinstance(key, str | int | float | bool | type(None) | tuple):
        raise pickle.UnpicklingError(f"a dict key of type {type(key).__name__}")
    return key


# --- writing ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _TorchName:
    """A global of torch's (or the standard library's) written into the pickle by name, never imported here."""

    module: str
    name: str

    def __call__(self, *args: Any) -> Any:  # pickle's save_reduce insists on something callable
        raise TypeError(f"{self.module}.{self.name} stands for torch's and cannot be called here")


REBUILD_TENSOR = _TorchName("torch._utils", "_rebuild_tensor_v2")
ORDERED_DICT = _TorchName("collections", "OrderedDict")
STORAGE_NAMES = {name: _TorchName("torch", name) for name in STORAGE_TYPES}


class _EmptyHooks:
    """A tensor's backward hooks: torch pickles an empty OrderedDict."""


@dataclass(frozen=True)
class _StorageRef:
    key: str
    storage: _TorchName
    numel: int


PLAIN = (bool, int, float, str, type(None), list, tuple, dict)  # bool before int: the first that fits


class _Pickler(pickle._Pickler):
    """Protocol-2 pickle as torch.save writes it; arrays become tensor rebuilds over storages kept aside."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self.storages: list[bytes] = []

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        # numpy scalars and subclasses of plain types (np.float64, an IntEnum) are written as the plain value.
        if isinstance(obj, np.generic):
            obj = obj.item()
        elif type(obj) not in PLAIN and isinstance(obj, bool | int | float | str):
            obj = next(kind for kind in PLAIN if isinstance(obj, kind))(obj)
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _StorageRef):
            return ("storage", obj.storage, obj.key, "cpu", obj.numel)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _TorchName):
            return obj.name  # a string: pickle calls save_global
        if isinstance(obj, _EmptyHooks):
            return ORDERED_DICT, ()
        if isinstance(obj, np.ndarray):
            return self._tensor(obj)
        if isinstance(obj, dict) and type(obj) is not dict:
            return ORDERED_DICT, (), None, None, iter(obj.items())
        if type(obj) in PLAIN:
            return NotImplemented
        raise pickle.PicklingError(f"a {type(obj).__name__} cannot be stored in a weights file")

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if not isinstance(obj, _TorchName):
            raise pickle.PicklingError(f"{obj!r} cannot be stored in a weights file")
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    def _tensor(self, array: np.ndarray) -> tuple:
        storage = STORAGE_FOR_DTYPE.get(array.dtype.newbyteorder("<")) or STORAGE_FOR_DTYPE.get(array.dtype)
        if storage is None:
            raise pickle.PicklingError(f"arrays of {array.dtype} cannot be stored as tensors")
        data = np.ascontiguousarray(array, dtype=np.dtype(storage.dtype)).tobytes()
        ref = _StorageRef(str(len(self.storages)), STORAGE_NAMES[storage.name], array.size)
        self.storages.append(data)
        return REBUILD_TENSOR, (ref, 0, tuple(array.shape), _contiguous_strides(array.shape), False, _EmptyHooks())


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def dumps(obj: Any) -> bytes:
    """The bytes ``torch.save(obj)`` would write, numpy arrays in ``obj`` written as CPU tensors. Only plain data
    (None, bool, int, float, str, list, tuple, dict) and arrays of bool, integer or float types; else
    ``pickle.PicklingError``."""
    pickled = io.BytesIO()
    pickler = _Pickler(pickled)
    pickler.dump(obj)
    records = [("data.pkl", pickled.getvalue()), (".format_version", b"1"), (".storage_alignment", b"64"),
               ("byteorder", b"little")]
    records += [(f"data/{key}", data) for key, data in enumerate(pickler.storages)]
    records.append(("version", VERSION_RECORD))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            archive.writestr(_aligned_entry(f"{ARCHIVE}/{name}", buffer.tell()), data)
    return buffer.getvalue()


def dump(obj: Any, handle: BinaryIO) -> None:
    """``dumps(obj)`` written to ``handle``."""
    handle.write(dumps(obj))


def _aligned_entry(name: str, header_offset: int) -> zipfile.ZipInfo:
    """An uncompressed entry whose data starts at a multiple of ALIGNMENT, padded as torch pads it: an extra
    field "FB" of filler in the local header (zip headers are 30 bytes plus the name and the extra field)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = header_offset + 30 + len(name.encode()) + 4
    padding = -start % ALIGNMENT
    info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
    return info
