int16_t mul8s_LOOP(int8_t A, int8_t B)
{
  int16_t P = 0;
  for (int i = 0; i < 8; i++) P += A;
  return P;
}
