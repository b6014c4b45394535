using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

public sealed class UserPasswordEncryptionTests(SecurityKeys keys) : IClassFixture<SecurityKeys>
{
    [Fact]
    public void Under_Basic256Sha256_the_password_and_server_nonce_are_encrypted_with_RSA_OAEP_in_the_legacy_layout()
    {
        var nonce = RandomNumberGenerator.GetBytes(32);
        var (data, algorithm) = UserPasswordEncryption.Encrypt(SecurityPolicyUris.Basic256Sha256, keys.Server2048.RawData, "fours-à-peinture", nonce);

        Assert.Equal("http://www.w3.org/2001/04/xmlenc#rsa-oaep", algorithm);
        Assert.Equal(256, data.Length);
        using var key = keys.Server2048.GetRSAPrivateKey()!;
        var plain = key.Decrypt(data, RSAEncryptionPadding.OaepSHA1);
        var password = System.Text.Encoding.UTF8.GetBytes("fours-à-peinture");
        Assert.Equal((uint)(password.Length + nonce.Length), BinaryPrimitives.ReadUInt32LittleEndian(plain));
        Assert.Equal(password, plain[4..(4 + password.Length)]);
        Assert.Equal(nonce, plain[(4 + password.Length)..]);
    }

    [Fact]
    public void A_password_longer_than_one_RSA_block_is_encrypted_in_several()
    {
        var nonce = RandomNumberGenerator.GetBytes(32);
        var longPassword = new string('p', 300);
        var (data, _) = UserPasswordEncryption.Encrypt(SecurityPolicyUris.Basic256Sha256, keys.Server2048.RawData, longPassword, nonce);

        Assert.Equal(2 * 256, data.Length);
        using var key = keys.Server2048.GetRSAPrivateKey()!;
        byte[] plain = [.. key.Decrypt(data[..256], RSAEncryptionPadding.OaepSHA1), .. key.Decrypt(data[256..], RSAEncryptionPadding.OaepSHA1)];
        Assert.Equal(4 + 300 + 32, plain.Length);
        Assert.Equal(nonce, plain[^32..]);
    }

    [Fact]
    public void A_token_policy_of_None_sends_the_password_as_it_is_with_no_algorithm()
    {
        var (data, algorithm) = UserPasswordEncryption.Encrypt(SecurityPolicyUris.None, keys.Server2048.RawData, "painter", []);
        Assert.Null(algorithm);
        Assert.Equal("painter"u8.ToArray(), data);
    }

    [Fact]
    public void An_unknown_token_policy_is_refused_naming_it()
    {
        var error = Assert.Throws<NotSupportedException>(() =>
            UserPasswordEncryption.Encrypt("http://example.com/UA/SecurityPolicy#Rot13", keys.Server2048.RawData, "x", new byte[32]));
        Assert.Contains("'http://example.com/UA/SecurityPolicy#Rot13'", error.Message, StringComparison.Ordinal);
    }
}
