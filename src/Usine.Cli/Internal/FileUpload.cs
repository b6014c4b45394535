using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Usine.Cli.Internal;

/// <summary>Reads a file in chunks for hashing and uploading, so memory stays flat whatever its size.</summary>
internal static class FileUpload
{
    private const int ChunkSize = 128 * 1024;

    /// <summary>The lowercase hex SHA-256 of the file's bytes as stored on disk (a gzip file is hashed compressed).</summary>
    public static async Task<string> Sha256Async(string path, Action<long>? onRead, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = OpenRead(path);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int read;
            while ((read = await file.ReadAsync(buffer.AsMemory(0, ChunkSize), cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                onRead?.Invoke(read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    internal static FileStream OpenRead(string path) =>
        new(path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read,
            Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            BufferSize = 0,
        });

    /// <summary>
    /// The request body of an import: the file's bytes untouched (no Content-Encoding, since the server detects
    /// gzip itself), with a known length so the server can tell a truncated upload from a complete one.
    /// </summary>
    internal sealed class Content : HttpContent
    {
        private readonly string path;
        private readonly long length;
        private readonly Action<long>? onSent;

        public Content(string path, long length, Action<long>? onSent)
        {
            this.path = path;
            this.length = length;
            this.onSent = onSent;
            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var file = OpenRead(path);
            var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
            try
            {
                int read;
                while ((read = await file.ReadAsync(buffer.AsMemory(0, ChunkSize), cancellationToken)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    onSent?.Invoke(read);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            // The size seen when hashing: a file whose size changed since then fails the request (HttpClient
            // refuses to send more or fewer bytes than announced) instead of importing other bytes than hashed.
            length = this.length;
            return true;
        }
    }
}
