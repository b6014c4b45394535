using System.Text.RegularExpressions;

namespace Usine.Simulator.Tests;

public sealed class VinTests
{
    [Fact]
    public void A_published_example_vin_passes_the_check_digit() =>
        Assert.True(Vin.IsValid("1M8GDM9AXKP042788"));

    [Fact]
    public void A_vin_with_a_wrong_check_digit_or_a_forbidden_letter_is_invalid()
    {
        Assert.False(Vin.IsValid("1M8GDM9A1KP042788"));
        Assert.False(Vin.IsValid("1M8GDM9AXKO042788"));
        Assert.False(Vin.IsValid("1M8GDM9AXKP04278"));
    }

    [Fact]
    public void Created_vins_are_valid_and_match_the_demo_model_pattern()
    {
        var pattern = new Regex("^[A-HJ-NPR-Z0-9]{17}$");
        for (var serial = 0; serial < 2000; serial += 7)
        {
            var vin = Vin.Create("VF1", "RFB9E", 2025, 'F', serial);
            Assert.True(Vin.IsValid(vin), vin);
            Assert.Matches(pattern, vin);
            Assert.EndsWith(serial.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), vin, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Create_refuses_letters_outside_the_alphabet() =>
        Assert.Throws<ArgumentException>(() => Vin.Create("VO1", "RFB9E", 2025, 'F', 1));
}
