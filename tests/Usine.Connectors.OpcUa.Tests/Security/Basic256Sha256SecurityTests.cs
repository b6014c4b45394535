using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Security;
using Usine.Connectors.OpcUa.Security.Internal;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>The certificates the channel tests share: RSA key generation is the slow part, 4096 bits above all.</summary>
public sealed class SecurityKeys : IDisposable
{
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    public SecurityKeys()
    {
        Client = TestCertificates.SelfSigned("client", 2048, _now);
        Server2048 = TestCertificates.SelfSigned("server 2048", 2048, _now);
        Server4096 = TestCertificates.SelfSigned("server 4096", 4096, _now);
        Stranger = TestCertificates.SelfSigned("stranger", 2048, _now);
    }

    public X509Certificate2 Client { get; }
    public X509Certificate2 Server2048 { get; }
    public X509Certificate2 Server4096 { get; }
    public X509Certificate2 Stranger { get; }

    public X509Certificate2 Server(int bits) => bits == 4096 ? Server4096 : Server2048;

    public void Dispose()
    {
        Client.Dispose();
        Server2048.Dispose();
        Server4096.Dispose();
        Stranger.Dispose();
    }
}

public sealed class Basic256Sha256SecurityTests(SecurityKeys keys) : IClassFixture<SecurityKeys>
{
    private sealed record Pair(Basic256Sha256Security Client, Basic256Sha256Security Server) : IDisposable
    {
        public void Dispose()
        {
            Client.Dispose();
            Server.Dispose();
        }
    }

    private Pair MakePair(MessageSecurityMode mode, int serverBits = 2048)
    {
        var server = keys.Server(serverBits);
        return new Pair(
            new Basic256Sha256Security(keys.Client, server.RawData, mode),
            new Basic256Sha256Security(server, keys.Client.RawData, mode, isClient: false));
    }

    private static void DeriveBoth(Pair pair, uint tokenId, out byte[] clientNonce, out byte[] serverNonce)
    {
        clientNonce = pair.Client.CreateClientNonce();
        serverNonce = pair.Server.CreateClientNonce();
        pair.Client.DeriveKeys(tokenId, clientNonce, serverNonce);
        pair.Server.DeriveKeys(tokenId, clientNonce, serverNonce);
    }

    [Fact]
    public void P_SHA256_gives_the_published_TLS_1_2_PRF_test_vector()
    {
        // The TLS 1.2 PRF is P_SHA256(secret, label + seed); this vector was posted to the IETF TLS working group
        // (mail-archive tls msg03416) and is checked by many TLS libraries.
        var secret = Convert.FromHexString("9bbe436ba940f017b17652849a71db35");
        var seed = Convert.FromHexString("a0ba9f936cda311827a6f796ffd5198c");
        var expected = Convert.FromHexString(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a" +
            "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab" +
            "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701" +
            "87347b66");

        var output = PSha256.Expand(secret, [.. "test label"u8, .. seed], 100);

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output));
    }

    [Fact]
    public void P_SHA256_asked_for_fewer_bytes_gives_the_start_of_the_same_stream()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var seed = RandomNumberGenerator.GetBytes(32);
        var full = PSha256.Expand(secret, seed, 80);
        foreach (var length in new[] { 0, 1, 31, 32, 33, 64, 79 })
        {
            Assert.Equal(full[..length], PSha256.Expand(secret, seed, length));
        }
        Assert.NotEqual(full, PSha256.Expand(seed, secret, 80));
    }

    [Fact]
    public void Nonces_are_32_fresh_random_bytes_and_other_lengths_are_refused()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        var a = pair.Client.CreateClientNonce();
        var b = pair.Client.CreateClientNonce();
        Assert.Equal(32, a.Length);
        Assert.NotEqual(a, b);

        var error = Assert.Throws<CryptographicException>(() => pair.Client.DeriveKeys(1, a, new byte[16]));
        Assert.Contains("the server's 16", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_asymmetric_security_header_fields_are_this_certificate_and_the_server_thumbprint()
    {
        using var pair = MakePair(MessageSecurityMode.Sign);
        Assert.Equal(SecurityPolicyUris.Basic256Sha256, pair.Client.PolicyUri);
        Assert.Equal(keys.Client.RawData, pair.Client.LocalCertificate.ToArray());
        Assert.Equal(keys.Server2048.GetCertHash(HashAlgorithmName.SHA1), pair.Client.RemoteCertificateThumbprint.ToArray());
    }

    public static TheoryData<MessageSecurityMode, int> ModesAndServerKeys => new()
    {
        { MessageSecurityMode.Sign, 2048 },
        { MessageSecurityMode.SignAndEncrypt, 2048 },
        { MessageSecurityMode.SignAndEncrypt, 4096 },
    };

    [Theory]
    [MemberData(nameof(ModesAndServerKeys))]
    public void OpenSecureChannel_chunks_open_on_the_other_side_at_sizes_around_the_RSA_blocks(MessageSecurityMode mode, int serverBits)
    {
        using var pair = MakePair(mode, serverBits);
        foreach (var (sender, receiver) in new[] { (pair.Client, pair.Server), (pair.Server, pair.Client) })
        {
            var (probe, headerEnd) = Chunks.Asymmetric(sender, []);
            var encryptKeyBytes = ReferenceEquals(sender, pair.Client) ? serverBits / 8 : 256;
            var signatureBytes = ReferenceEquals(sender, pair.Client) ? 256 : serverBits / 8;
            var plainBlock = encryptKeyBytes - 42;
            var extra = encryptKeyBytes > 256 ? 1 : 0;
            var max = sender.MaxBodySize(8192, headerEnd, asymmetric: true);
            var sizes = new SortedSet<int> { 0, 1, max - 1, max };
            for (var blocks = 1; blocks <= 3; blocks++)
            {
                var fill = blocks * plainBlock - 8 - signatureBytes - 1 - extra;
                foreach (var size in new[] { fill - 1, fill, fill + 1 })
                {
                    if (size >= 0 && size <= max)
                    {
                        sizes.Add(size);
                    }
                }
            }

            foreach (var size in sizes)
            {
                var (plain, end) = Chunks.Asymmetric(sender, Chunks.Body(size));
                var sealedChunk = sender.Seal(plain, end, asymmetric: true, tokenId: 0);

                Assert.Equal(sealedChunk.Length, BinaryPrimitives.ReadInt32LittleEndian(sealedChunk.AsSpan(4)));
                Assert.Equal(0, (sealedChunk.Length - end) % encryptKeyBytes);
                Assert.Equal(plain[..end].AsSpan(8).ToArray(), sealedChunk[8..end]);
                Assert.Equal(Chunks.Expected(plain), receiver.Open(sealedChunk, end, asymmetric: true, tokenId: 0));
            }
        }
    }

    [Theory]
    [InlineData(MessageSecurityMode.Sign)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public void Symmetric_chunks_open_on_the_other_side_at_every_size_across_the_AES_blocks(MessageSecurityMode mode)
    {
        using var pair = MakePair(mode);
        DeriveBoth(pair, 3, out _, out _);
        var max = pair.Client.MaxBodySize(8192, Chunks.SymmetricSecurityHeaderEnd, asymmetric: false);
        var sizes = Enumerable.Range(0, 70).Concat([max - 17, max - 16, max - 15, max - 1, max]);

        foreach (var size in sizes)
        {
            foreach (var (sender, receiver) in new[] { (pair.Client, pair.Server), (pair.Server, pair.Client) })
            {
                var plain = Chunks.Symmetric(3, Chunks.Body(size));
                var sealedChunk = sender.Seal(plain, Chunks.SymmetricSecurityHeaderEnd, asymmetric: false, tokenId: 3);

                Assert.Equal(sealedChunk.Length, BinaryPrimitives.ReadInt32LittleEndian(sealedChunk.AsSpan(4)));
                if (mode == MessageSecurityMode.SignAndEncrypt)
                {
                    Assert.Equal(0, (sealedChunk.Length - Chunks.SymmetricSecurityHeaderEnd) % 16);
                }
                else
                {
                    Assert.Equal(plain.Length + 32, sealedChunk.Length);
                }
                Assert.Equal(Chunks.Expected(plain), receiver.Open(sealedChunk, Chunks.SymmetricSecurityHeaderEnd, asymmetric: false, tokenId: 3));
            }
        }
    }

    [Fact]
    public void Sign_mode_leaves_the_body_readable_and_SignAndEncrypt_hides_it()
    {
        var body = "temperature 81.5 degrees in oven 2"u8.ToArray();
        foreach (var mode in new[] { MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt })
        {
            using var pair = MakePair(mode);
            DeriveBoth(pair, 1, out _, out _);
            var sealedChunk = pair.Client.Seal(Chunks.Symmetric(1, body), Chunks.SymmetricSecurityHeaderEnd, false, 1);
            var readable = sealedChunk.AsSpan().IndexOf(body) >= 0;
            Assert.True(readable == (mode == MessageSecurityMode.Sign), $"{mode}: body readable on the wire = {readable}");
        }
    }

    public static TheoryData<MessageSecurityMode, int, string> ChunkSizes => new()
    {
        { MessageSecurityMode.Sign, 8192, "symmetric" },
        { MessageSecurityMode.SignAndEncrypt, 8192, "symmetric" },
        { MessageSecurityMode.SignAndEncrypt, 8197, "symmetric" },
        { MessageSecurityMode.SignAndEncrypt, 65535, "symmetric" },
        { MessageSecurityMode.Sign, 8192, "asymmetric 2048" },
        { MessageSecurityMode.SignAndEncrypt, 8192, "asymmetric 2048" },
        { MessageSecurityMode.SignAndEncrypt, 65535, "asymmetric 2048" },
        { MessageSecurityMode.SignAndEncrypt, 8192, "asymmetric 4096" },
        { MessageSecurityMode.SignAndEncrypt, 65535, "asymmetric 4096" },
    };

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void MaxBodySize_is_the_largest_body_whose_sealed_chunk_fits(MessageSecurityMode mode, int chunkSize, string kind)
    {
        var asymmetric = kind.StartsWith("asymmetric", StringComparison.Ordinal);
        using var pair = MakePair(mode, kind.EndsWith("4096", StringComparison.Ordinal) ? 4096 : 2048);
        DeriveBoth(pair, 1, out _, out _);

        int SealedLength(int bodySize)
        {
            if (asymmetric)
            {
                var (plain, end) = Chunks.Asymmetric(pair.Client, Chunks.Body(bodySize));
                return pair.Client.Seal(plain, end, true, 0).Length;
            }
            return pair.Client.Seal(Chunks.Symmetric(1, Chunks.Body(bodySize)), Chunks.SymmetricSecurityHeaderEnd, false, 1).Length;
        }

        var headerSize = asymmetric ? Chunks.Asymmetric(pair.Client, []).SecurityHeaderEnd : Chunks.SymmetricSecurityHeaderEnd;
        var max = pair.Client.MaxBodySize(chunkSize, headerSize, asymmetric);

        Assert.True(SealedLength(max) <= chunkSize, $"a body of {max} bytes sealed to {SealedLength(max)} bytes, more than {chunkSize}");
        Assert.True(SealedLength(max + 1) > chunkSize, $"a body of {max + 1} bytes still fits in {chunkSize}, so {max} is not the largest");
    }

    [Fact]
    public void MaxBodySize_of_a_chunk_too_small_for_the_signature_says_so()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => pair.Client.MaxBodySize(300, 100, asymmetric: true));
        Assert.Contains("leaves no room for a body", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(MessageSecurityMode.Sign, 30)]
    [InlineData(MessageSecurityMode.Sign, 10)]
    [InlineData(MessageSecurityMode.SignAndEncrypt, 30)]
    [InlineData(MessageSecurityMode.SignAndEncrypt, 10)]
    [InlineData(MessageSecurityMode.SignAndEncrypt, -1)]
    public void A_symmetric_chunk_with_one_byte_changed_is_refused_because_its_signature_does_not_verify(MessageSecurityMode mode, int position)
    {
        using var pair = MakePair(mode);
        DeriveBoth(pair, 1, out _, out _);
        var sealedChunk = pair.Client.Seal(Chunks.Symmetric(1, Chunks.Body(100)), Chunks.SymmetricSecurityHeaderEnd, false, 1);
        sealedChunk[position < 0 ? sealedChunk.Length + position : position] ^= 0x01;

        var error = Assert.Throws<CryptographicException>(() => pair.Server.Open(sealedChunk, Chunks.SymmetricSecurityHeaderEnd, false, 1));
        Assert.Equal(
            "The received chunk of token 1 has a signature that does not verify: it was changed on the way or not signed with the key this channel expects.",
            error.Message);
    }

    [Fact]
    public void An_OpenSecureChannel_chunk_with_an_encrypted_byte_changed_is_refused_because_it_does_not_decrypt()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        var (plain, end) = Chunks.Asymmetric(pair.Client, Chunks.Body(300));
        var sealedChunk = pair.Client.Seal(plain, end, true, 0);
        sealedChunk[end + 300] ^= 0x80;

        var error = Assert.Throws<CryptographicException>(() => pair.Server.Open(sealedChunk, end, true, 0));
        Assert.StartsWith("The received OpenSecureChannel chunk does not decrypt with this application's private key at block 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_OpenSecureChannel_chunk_with_its_channel_id_changed_is_refused_because_its_signature_does_not_verify()
    {
        using var pair = MakePair(MessageSecurityMode.Sign);
        var (plain, end) = Chunks.Asymmetric(pair.Server, Chunks.Body(40));
        var sealedChunk = pair.Server.Seal(plain, end, true, 0);
        sealedChunk[8] ^= 0x01;

        var error = Assert.Throws<CryptographicException>(() => pair.Client.Open(sealedChunk, end, true, 0));
        Assert.Contains("OpenSecureChannel chunk has a signature that does not verify", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_OpenSecureChannel_chunk_from_another_certificate_is_refused_naming_the_expected_one()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        using var impostor = new Basic256Sha256Security(keys.Stranger, keys.Client.RawData, MessageSecurityMode.SignAndEncrypt, isClient: false);
        var (plain, end) = Chunks.Asymmetric(impostor, Chunks.Body(40));
        var sealedChunk = impostor.Seal(plain, end, true, 0);

        var error = Assert.Throws<CryptographicException>(() => pair.Client.Open(sealedChunk, end, true, 0));
        Assert.Contains($"signed by another certificate than '{keys.Server2048.Subject}' (thumbprint {keys.Server2048.Thumbprint})", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_OpenSecureChannel_chunk_naming_another_policy_is_refused()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        var (plain, end) = Chunks.Asymmetric(pair.Server, Chunks.Body(40), policyUri: SecurityPolicyUris.Basic256);
        var sealedChunk = pair.Server.Seal(plain, end, true, 0);

        var error = Assert.Throws<CryptographicException>(() => pair.Client.Open(sealedChunk, end, true, 0));
        Assert.Contains($"names the security policy '{SecurityPolicyUris.Basic256}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_derived_from_other_nonces_do_not_open_the_chunk()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        var clientNonce = pair.Client.CreateClientNonce();
        pair.Client.DeriveKeys(1, clientNonce, pair.Client.CreateClientNonce());
        pair.Server.DeriveKeys(1, clientNonce, pair.Server.CreateClientNonce());
        var sealedChunk = pair.Client.Seal(Chunks.Symmetric(1, Chunks.Body(64)), Chunks.SymmetricSecurityHeaderEnd, false, 1);

        Assert.Throws<CryptographicException>(() => pair.Server.Open(sealedChunk, Chunks.SymmetricSecurityHeaderEnd, false, 1));
    }

    [Fact]
    public void The_keys_of_a_side_are_not_the_keys_of_the_other_so_a_chunk_does_not_open_where_it_was_sealed()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        DeriveBoth(pair, 1, out _, out _);
        var sealedChunk = pair.Client.Seal(Chunks.Symmetric(1, Chunks.Body(64)), Chunks.SymmetricSecurityHeaderEnd, false, 1);

        Assert.Throws<CryptographicException>(() => pair.Client.Open(sealedChunk, Chunks.SymmetricSecurityHeaderEnd, false, 1));
    }

    [Fact]
    public void After_a_renewal_the_previous_token_still_opens_until_a_chunk_under_the_new_token_arrives()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        DeriveBoth(pair, 1, out _, out _);
        var underOld = pair.Server.Seal(Chunks.Symmetric(1, Chunks.Body(50)), Chunks.SymmetricSecurityHeaderEnd, false, 1);
        var laterUnderOld = pair.Server.Seal(Chunks.Symmetric(1, Chunks.Body(51)), Chunks.SymmetricSecurityHeaderEnd, false, 1);

        DeriveBoth(pair, 2, out _, out _);
        Assert.Equal([2u, 1u], pair.Client.HeldTokens);
        var underNew = pair.Server.Seal(Chunks.Symmetric(2, Chunks.Body(52)), Chunks.SymmetricSecurityHeaderEnd, false, 2);

        Assert.Equal(50 + 24, pair.Client.Open(underOld, Chunks.SymmetricSecurityHeaderEnd, false, 1).Length);
        Assert.Equal(52 + 24, pair.Client.Open(underNew, Chunks.SymmetricSecurityHeaderEnd, false, 2).Length);
        Assert.Equal([2u], pair.Client.HeldTokens);

        var error = Assert.Throws<CryptographicException>(() => pair.Client.Open(laterUnderOld, Chunks.SymmetricSecurityHeaderEnd, false, 1));
        Assert.Equal("The received chunk is secured with token 1, which this channel does not hold (it holds 2).", error.Message);
    }

    [Fact]
    public void A_forged_chunk_under_the_new_token_does_not_end_the_overlap()
    {
        using var pair = MakePair(MessageSecurityMode.Sign);
        DeriveBoth(pair, 1, out _, out _);
        DeriveBoth(pair, 2, out _, out _);
        var forged = pair.Server.Seal(Chunks.Symmetric(2, Chunks.Body(20)), Chunks.SymmetricSecurityHeaderEnd, false, 2);
        forged[^1] ^= 0xFF;

        Assert.Throws<CryptographicException>(() => pair.Client.Open(forged, Chunks.SymmetricSecurityHeaderEnd, false, 2));
        Assert.Equal([2u, 1u], pair.Client.HeldTokens);
    }

    [Fact]
    public void Sealing_under_a_token_without_keys_says_DeriveKeys_comes_first()
    {
        using var pair = MakePair(MessageSecurityMode.Sign);
        var error = Assert.Throws<InvalidOperationException>(() => pair.Client.Seal(Chunks.Symmetric(9, []), Chunks.SymmetricSecurityHeaderEnd, false, 9));
        Assert.StartsWith("No keys for token 9", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_session_proof_verifies_with_the_signers_certificate_and_not_for_another_nonce()
    {
        using var pair = MakePair(MessageSecurityMode.SignAndEncrypt);
        var serverNonce = pair.Server.CreateClientNonce();
        var (signature, algorithm) = pair.Client.SignSessionProof(keys.Server2048.RawData, serverNonce);

        Assert.Equal("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", algorithm);
        using (var clientKey = keys.Client.GetRSAPublicKey()!)
        {
            byte[] signed = [.. keys.Server2048.RawData, .. serverNonce];
            Assert.True(clientKey.VerifyData(signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        }
        pair.Server.VerifySessionProof(keys.Server2048.RawData, serverNonce, signature, algorithm);

        var error = Assert.Throws<CryptographicException>(() =>
            pair.Server.VerifySessionProof(keys.Server2048.RawData, pair.Server.CreateClientNonce(), signature, algorithm));
        Assert.Contains("does not verify with the key of", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_certificate_with_a_1024_bit_key_is_refused_naming_the_sizes_the_policy_allows()
    {
        using var weak = TestCertificates.SelfSigned("weak", 1024, DateTimeOffset.UtcNow);
        var error = Assert.Throws<ArgumentException>(() => new Basic256Sha256Security(keys.Client, weak.RawData, MessageSecurityMode.Sign));
        Assert.Contains("has a 1024-bit RSA key; Basic256Sha256 needs 2048 to 4096 bits", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_certificate_followed_by_its_chain_is_read_by_its_first_certificate()
    {
        byte[] chain = [.. keys.Server2048.RawData, .. keys.Stranger.RawData];
        using var security = new Basic256Sha256Security(keys.Client, chain, MessageSecurityMode.Sign);
        Assert.Equal(keys.Server2048.GetCertHash(HashAlgorithmName.SHA1), security.RemoteCertificateThumbprint.ToArray());
    }
}
