namespace Usine.Cli.Internal;

/// <summary>
/// Counts the records of an export, which the server streams without announcing a count: CSV and NDJSON as
/// their bytes go by, Parquet from the file's footer once it is written.
/// </summary>
internal sealed class ExportRows(string format)
{
    private readonly bool _csv = format == "csv";
    private bool _quoted;
    private long _lines;

    /// <summary>Sees the next bytes of the export. A line break inside a quoted CSV field does not end a record.</summary>
    public void Add(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b == (byte)'"' && _csv)
            {
                _quoted = !_quoted;
            }
            else if (b == (byte)'\n' && !_quoted)
            {
                _lines++;
            }
        }
    }

    /// <summary>The records of the written file: its lines, less the CSV header; for Parquet, what its footer says.</summary>
    public long Count(string path) => format switch
    {
        "parquet" => CountParquet(path),
        "csv" => Math.Max(0, _lines - 1),
        _ => _lines,
    };

    private static long CountParquet(string path)
    {
        try
        {
            return ParquetRows(path);
        }
        catch (Exception ex) when (ex is FormatException or IndexOutOfRangeException or EndOfStreamException or IOException)
        {
            throw new CliException($"the export was written to {path}, but its Parquet footer could not be read for a row count: {ex.Message}", ExitCodes.Failure);
        }
    }

    /// <summary>
    /// The row count a Parquet file's footer declares (FileMetaData field 3), read without reading the rows: the
    /// footer is the Thrift compact encoding of FileMetaData, before its 4-byte length and the magic <c>PAR1</c>.
    /// </summary>
    private static long ParquetRows(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> tail = stackalloc byte[8];
        file.Seek(-8, SeekOrigin.End);
        file.ReadExactly(tail);
        if (!tail[4..].SequenceEqual("PAR1"u8))
        {
            throw new CliException($"{path} is not a Parquet file (it does not end with PAR1)", ExitCodes.Failure);
        }

        var footer = new byte[System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(tail)];
        file.Seek(-8 - footer.Length, SeekOrigin.End);
        file.ReadExactly(footer);
        var reader = new CompactReader(footer);
        short id = 0;
        while (reader.FieldHeader(ref id) is var type and not 0)
        {
            if (id == 3 && type == 6)
            {
                return reader.ZigZag();
            }

            reader.Skip(type);
        }

        throw new CliException($"{path} has no row count in its footer", ExitCodes.Failure);
    }

    /// <summary>Just enough of the Thrift compact protocol to walk a struct's fields and skip those not wanted.</summary>
    private sealed class CompactReader(byte[] bytes)
    {
        private int _at;

        /// <summary>The next field's type (0 at the end of the struct), and its id into <paramref name="id"/>.</summary>
        public int FieldHeader(ref short id)
        {
            var b = bytes[_at++];
            if (b == 0)
            {
                return 0;
            }

            id = (b >> 4) == 0 ? (short)ZigZag() : (short)(id + (b >> 4));
            return b & 0x0F;
        }

        public long ZigZag()
        {
            var v = Varint();
            return (long)(v >> 1) ^ -(long)(v & 1);
        }

        private ulong Varint()
        {
            ulong v = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = bytes[_at++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return v;
                }
            }
        }

        public void Skip(int type)
        {
            switch (type)
            {
                case 1 or 2:
                    break;
                case 3:
                    _at++;
                    break;
                case 4 or 5 or 6:
                    Varint();
                    break;
                case 7:
                    _at += 8;
                    break;
                case 8:
                    // Read first: `_at += Varint()` would add the length to the position before the length's own bytes.
                    var length = (int)Varint();
                    _at += length;
                    break;
                case 9 or 10:
                    var head = bytes[_at++];
                    var count = (head >> 4) == 15 ? (int)Varint() : head >> 4;
                    for (var i = 0; i < count; i++)
                    {
                        SkipElement(head & 0x0F);
                    }

                    break;
                case 11:
                    var entries = (int)Varint();
                    if (entries > 0)
                    {
                        var kinds = bytes[_at++];
                        for (var i = 0; i < entries; i++)
                        {
                            SkipElement(kinds >> 4);
                            SkipElement(kinds & 0x0F);
                        }
                    }

                    break;
                case 12:
                    short id = 0;
                    while (FieldHeader(ref id) is var t and not 0)
                    {
                        Skip(t);
                    }

                    break;
                default:
                    throw new FormatException($"unknown Thrift compact type {type} in a Parquet footer");
            }
        }

        // In a list, set or map a boolean takes a byte of its own.
        private void SkipElement(int type)
        {
            if (type is 1 or 2)
            {
                _at++;
            }
            else
            {
                Skip(type);
            }
        }
    }
}
