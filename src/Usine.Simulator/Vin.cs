namespace Usine.Simulator;

/// <summary>Vehicle identification numbers (ISO 3779): 17 characters from an alphabet without I, O and Q.</summary>
public static class Vin
{
    /// <summary>The characters a VIN may hold.</summary>
    public const string Alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

    private const string YearCodes = "ABCDEFGHJKLMNPRSTVWXY123456789";
    private static readonly int[] Weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

    /// <summary>
    /// Builds a VIN: world manufacturer code, vehicle descriptor, check digit, model year, plant code and a six-digit
    /// serial. The check digit follows the North American rule so that the numbers pass the checks real systems run.
    /// </summary>
    public static string Create(string wmi, string descriptor, int modelYear, char plantCode, int serial)
    {
        if (wmi.Length != 3 || descriptor.Length != 5 || !IsInAlphabet(wmi) || !IsInAlphabet(descriptor) || !Alphabet.Contains(plantCode, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{wmi}' must be 3 and '{descriptor}' 5 characters of {Alphabet}, and '{plantCode}' one of them");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(serial);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(serial, 999_999);
        var chars = new char[17];
        wmi.CopyTo(0, chars, 0, 3);
        descriptor.CopyTo(0, chars, 3, 5);
        chars[9] = YearCodes[(((modelYear - 1980) % YearCodes.Length) + YearCodes.Length) % YearCodes.Length];
        chars[10] = plantCode;
        serial.TryFormat(chars.AsSpan(11), out _, "D6", System.Globalization.CultureInfo.InvariantCulture);
        chars[8] = '0';
        chars[8] = CheckDigit(chars);
        return new string(chars);
    }

    /// <summary>True for 17 characters of <see cref="Alphabet"/> whose ninth character is the right check digit.</summary>
    public static bool IsValid(string vin) =>
        vin.Length == 17 && IsInAlphabet(vin) && vin[8] == CheckDigit(vin);

    private static bool IsInAlphabet(ReadOnlySpan<char> s) => s.IndexOfAnyExcept(Alphabet) < 0;

    private static char CheckDigit(ReadOnlySpan<char> vin)
    {
        var sum = 0;
        for (var i = 0; i < 17; i++)
        {
            sum += Value(vin[i]) * Weights[i];
        }

        var r = sum % 11;
        return r == 10 ? 'X' : (char)('0' + r);
    }

    // Transliteration of ISO 3779: letters count 1..9 in the order A-H, J-R (skipping O, Q), S-Z from 2.
    private static int Value(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'H' => c - 'A' + 1,
        >= 'J' and <= 'N' => c - 'J' + 1,
        'P' => 7,
        'R' => 9,
        >= 'S' and <= 'Z' => c - 'S' + 2,
        _ => 0,
    };
}
