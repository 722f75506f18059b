"""An independent reader of TensorBoard event files: TFRecord framing with both masked CRC-32C
checks, and the protobuf wire format of `Event` / `Summary` / `HistogramProto` decoded here by
hand (varints, fixed64/fixed32, length-delimited fields, packed doubles). It shares no code
with moerec's writer and needs neither TensorBoard nor the protobuf package.

read_events(path) -> list of dicts:
  {"wall_time": float, "step": int, "file_version": str | None,
   "scalars": {tag: float}, "histograms": {tag: {"min", "max", "num", "sum", "sum_squares",
   "bucket_limit": [...], "bucket": [...]}}}
A damaged or truncated record raises ValueError naming its offset; a record cut short at the
end of the file (a writer still writing) is reported by read_events(..., allow_partial_tail=True)
as the end.
"""
import struct


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(buf, pos):
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf):
    """(field number, wire type, value) of every field of one message: value is an int
    (varint), bytes (length-delimited), or the raw 8 / 4 bytes (fixed64 / fixed32)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire} (field {number})")
        if pos > len(buf):
            raise ValueError(f"field {number} runs past the end of the message")
        yield number, wire, value


def _double(raw):
    return struct.unpack("<d", raw)[0]


def _packed_doubles(raw):
    if len(raw) % 8:
        raise ValueError("packed doubles of a length not a multiple of 8")
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


def _histogram(buf):
    h = {"bucket_limit": [], "bucket": []}
    names = {1: "min", 2: "max", 3: "num", 4: "sum", 5: "sum_squares"}
    for number, wire, value in _fields(buf):
        if number in names and wire == 1:
            h[names[number]] = _double(value)
        elif number in (6, 7):
            key = "bucket_limit" if number == 6 else "bucket"
            h[key] += _packed_doubles(value) if wire == 2 else [_double(value)]
    return h


def _summary(buf, event):
    for number, wire, value in _fields(buf):
        if number != 1 or wire != 2:
            continue
        tag, simple, histo = None, None, None
        for n, w, v in _fields(value):
            if n == 1 and w == 2:
                tag = v.decode("utf-8")
            elif n == 2 and w == 5:
                simple = struct.unpack("<f", v)[0]
            elif n == 5 and w == 2:
                histo = _histogram(v)
        if tag is None:
            raise ValueError("a summary value without a tag")
        if simple is not None:
            event["scalars"][tag] = simple
        if histo is not None:
            event["histograms"][tag] = histo


def decode_event(buf):
    event = {"wall_time": None, "step": 0, "file_version": None, "scalars": {}, "histograms": {}}
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 1:
            event["wall_time"] = _double(value)
        elif number == 2 and wire == 0:
            event["step"] = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 3 and wire == 2:
            event["file_version"] = value.decode("utf-8")
        elif number == 5 and wire == 2:
            _summary(value, event)
    return event


def read_records(path, allow_partial_tail=False):
    with open(path, "rb") as f:
        data = f.read()
    pos, records = 0, []
    while pos < len(data):
        if pos + 12 > len(data):
            if allow_partial_tail:
                break
            raise ValueError(f"{path}: record header cut short at byte {pos}")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if length_crc != masked_crc32c(header):
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        end = pos + 12 + length + 4
        if end > len(data):
            if allow_partial_tail:
                break
            raise ValueError(f"{path}: record at byte {pos} cut short")
        payload = data[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", data[pos + 12 + length:end])
        if data_crc != masked_crc32c(payload):
            raise ValueError(f"{path}: bad data CRC at byte {pos}")
        records.append(payload)
        pos = end
    return records


def read_events(path, allow_partial_tail=False):
    return [decode_event(r) for r in read_records(path, allow_partial_tail)]


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        for e in read_events(p):
            print(e["step"], e["file_version"] or "", sorted(e["scalars"].items())[:8],
                  sorted(e["histograms"]))
