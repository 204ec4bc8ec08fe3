int16_t mul8s_BAD(int8_t A, int8_t B)
{
  int16_t P;
  P = A * B;
  return P;
}
